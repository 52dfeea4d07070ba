"""Pure protocol cores: bytes in, events out; no Twisted, no reactor, no widgets."""
