"""One module per stage page: each renders a stage's typed summary into a `reports.model.Report`."""
