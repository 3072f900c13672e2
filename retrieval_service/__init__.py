"""Disaggregated gRPC retrieval service: coordinator, memory nodes, scan backends, client, cluster."""
