"""Emitters: IR/plan -> SQL per dialect (``sql``) and the Python evaluator (``python``)."""
