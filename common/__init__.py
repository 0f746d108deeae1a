"""What every command shares: files written atomically, one progress display, one way to report a bad command line."""
