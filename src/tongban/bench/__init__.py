"""The benchmark harness: ``tongban bench WORKLOAD``; capabilities add workloads in their ``bench`` module."""
