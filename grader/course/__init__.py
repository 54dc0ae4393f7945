"""A course: loading `course.toml` and its test modules, releasing the student bundle."""
