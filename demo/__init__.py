"""The one-command demo: a healthy release promoted and a faulty one rolled back on the local cloud."""
