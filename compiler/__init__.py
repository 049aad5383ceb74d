"""The featc compiler: parse -> resolve -> validate -> plan -> emit."""
