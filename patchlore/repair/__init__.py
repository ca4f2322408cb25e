"""The repair loop: reproduce, localize, recall, propose, verify, select, learn."""
