"""``multiraft check``: is the cluster linearizable while a nemesis breaks it?

One concept per module:

- ``history``: the operations concurrent clients performed (``HistoryRecorder``, ``Operation``);
- ``history_file``: a history saved as JSON, and read back;
- ``linearizability``: the checker (Porcupine-style search, per key);
- ``iptables``: the partition rules (built, applied, always removed);
- ``processes``: the node processes the nemesis signals and restarts;
- ``nemesis``: the faults (partition, kill, pause) and their fault/heal schedule;
- ``workload``: the clients doing put/get/cas on a bounded set of keys, recorded;
- ``command``: the ``multiraft check`` command that runs them all and prints the verdict.
"""
