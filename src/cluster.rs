//! Cluster configuration.
