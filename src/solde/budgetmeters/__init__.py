"""The move of budget-meter (card meter) customers to smart meters in prepayment: a CSV from the
DSO, checked line by line (dry run), then imported one transaction per batch with the carried
balance and a printable batch of letters. See docs/migration.md."""
