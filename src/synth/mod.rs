//! A deterministic capture builder: exact packets, times and link types written as pcap or pcapng, for tests, samples and benchmarks.
