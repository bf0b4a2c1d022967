//! Parsers for log formats: syslog (RFC 3164/5424) and its transport framing (RFC 6587), later CEF, LEEF, JSON, CSV, KV, XML, EVTX.
