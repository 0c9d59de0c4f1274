"""The disability two-subsidies service (残疾人两项补贴, 国发〔2015〕52号): 困难残疾人生活补贴 and
重度残疾人护理补贴 — application at a window, township review, county 残联 certificate check, county
civil-affairs approval, and the entitlements that the monthly payment run pays (issue 13)."""
