"""Grading: every engine's values against the reference (:mod:`~diffcmp.grading.grade`), and the
non-smooth points where no single gradient exists (:mod:`~diffcmp.grading.kinks`)."""
