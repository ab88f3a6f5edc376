"""The data subject's rights: export (Art. 15 GDPR), erasure (Art. 17) and retention."""
