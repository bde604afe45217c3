"""Signal intake: signals in through every channel, one canonical signal out."""
