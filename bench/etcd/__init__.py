"""The etcd anchor of ``multiraft bench --compare``: a local etcd cluster and a gRPC load."""
