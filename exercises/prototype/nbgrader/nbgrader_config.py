"""nbgrader's configuration for the prototype course (the folder `course/`, built by build.sh)."""
import os

c = get_config()  # noqa: F821 (nbgrader provides it)
COURSE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "course")
c.CourseDirectory.course_id = "adapter-lab"
c.CourseDirectory.root = COURSE
# Absolute: a relative sqlite path is resolved from another folder ("unable to open database file").
c.CourseDirectory.db_url = f"sqlite:///{COURSE}/gradebook.db"
# A test that hangs must not hold the whole class's grading (seconds per cell).
c.ExecutePreprocessor.timeout = 120
