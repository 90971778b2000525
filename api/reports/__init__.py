"""The office's weekly and monthly reports (周报/月报): ``hazardwatch report``, the scheduled run.

- :mod:`api.reports.periods`: the week or month, in the site's time zone;
- :mod:`api.reports.figures`: the numbers (what is counted and why is said there);
- :mod:`api.reports.render`: one self-contained HTML document with the numbers embedded as JSON;
- :mod:`api.reports.pdf`: the same document as PDF through WeasyPrint;
- :mod:`api.reports.build`: tickets from the store to a written file;
- :mod:`api.reports.schedule`: the ticket service's weekly/monthly run (``api.reports``);
- :mod:`api.reports.cli`: ``hazardwatch report``.
"""
