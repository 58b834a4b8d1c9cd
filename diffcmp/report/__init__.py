"""Reporting: the markdown report (:mod:`~diffcmp.report.markdown`) and its sections, the plots,
and the report folder written whole or not at all (:mod:`~diffcmp.report.folder`)."""
