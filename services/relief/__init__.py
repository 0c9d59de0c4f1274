"""The subsistence relief service (issue 14): 最低生活保障 (低保, household-based, 民发〔2021〕57号) and
临时救助 (temporary assistance, 国发〔2014〕47号), on the service kit with marriage's anatomy."""
