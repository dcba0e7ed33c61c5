//! Cluster layout: how many processes and workers, which one this is, and the timely
//! configuration built from it (timely's own argument parser rejects unknown flags, so vigil
//! builds `timely::Config` itself from its clap options).

use std::path::{Path, PathBuf};

use timely::{CommunicationConfig, WorkerConfig};

/// Errors in the cluster options or the hostfile.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The options contradict each other.
    #[error("{0}")]
    Invalid(String),
    /// The hostfile cannot be read.
    #[error("cannot read hostfile {path}: {source}")]
    Hostfile {
        /// The hostfile.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A hostfile line is not `host:port`.
    #[error("{path}:{line}: expected host:port, found {text:?}")]
    BadHost {
        /// The hostfile.
        path: PathBuf,
        /// Line number from 1.
        line: usize,
        /// The offending text.
        text: String,
    },
}

/// Where this process sits in the cluster.
#[derive(Clone, Debug, clap::Args)]
pub struct ClusterArgs {
    /// Worker threads in this process.
    #[arg(short = 'w', long, default_value_t = 1, env = "VIGIL_WORKERS")]
    pub workers: usize,
    /// Processes in the cluster (each runs the same command with its own --process).
    #[arg(long, default_value_t = 1, env = "VIGIL_PROCESSES")]
    pub processes: usize,
    /// Index of this process, from 0.
    #[arg(long, default_value_t = 0, env = "VIGIL_PROCESS")]
    pub process: usize,
    /// File with one `host:port` per line, one line per process (needed when --processes > 1).
    #[arg(long, env = "VIGIL_HOSTS")]
    pub hosts: Option<PathBuf>,
}

impl Default for ClusterArgs {
    fn default() -> Self {
        ClusterArgs { workers: 1, processes: 1, process: 0, hosts: None }
    }
}

impl ClusterArgs {
    /// Total workers across the cluster.
    pub fn peers(&self) -> usize {
        self.workers * self.processes
    }

    /// Global indexes of this process's workers.
    pub fn local_workers(&self) -> std::ops::Range<usize> {
        self.process * self.workers..(self.process + 1) * self.workers
    }

    /// Checks the options and builds the timely configuration.
    pub fn timely_config(&self) -> Result<timely::Config, ClusterError> {
        if self.workers == 0 {
            return Err(ClusterError::Invalid("--workers must be at least 1".into()));
        }
        if self.processes == 0 {
            return Err(ClusterError::Invalid("--processes must be at least 1".into()));
        }
        if self.process >= self.processes {
            return Err(ClusterError::Invalid(format!("--process {} is out of range for --processes {} (indexes start at 0)", self.process, self.processes)));
        }
        let communication = if self.processes > 1 {
            let path = self.hosts.as_deref().ok_or_else(|| ClusterError::Invalid("--processes > 1 needs --hosts FILE (one host:port per process)".into()))?;
            let addresses = read_hostfile(path)?;
            if addresses.len() < self.processes {
                return Err(ClusterError::Invalid(format!("{} lists {} hosts but --processes is {}", path.display(), addresses.len(), self.processes)));
            }
            CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses: addresses[..self.processes].to_vec(),
                report: false,
                zerocopy: false,
            }
        } else if self.workers > 1 {
            CommunicationConfig::Process(self.workers)
        } else {
            CommunicationConfig::Thread
        };
        Ok(timely::Config { communication, worker: WorkerConfig::default() })
    }
}

/// Reads a hostfile: one `host:port` per line; blank lines and `#` comments are ignored.
pub fn read_hostfile(path: &Path) -> Result<Vec<String>, ClusterError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClusterError::Hostfile { path: path.to_owned(), source })?;
    let mut hosts = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let ok = line.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            return Err(ClusterError::BadHost { path: path.to_owned(), line: i + 1, text: raw.to_string() });
        }
        hosts.push(line.to_string());
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_process_configs() {
        assert!(matches!(ClusterArgs::default().timely_config().unwrap().communication, CommunicationConfig::Thread));
        let four = ClusterArgs { workers: 4, ..Default::default() };
        assert!(matches!(four.timely_config().unwrap().communication, CommunicationConfig::Process(4)));
        let bad = ClusterArgs { process: 1, ..Default::default() };
        assert!(bad.timely_config().unwrap_err().to_string().contains("out of range"));
    }

    #[test]
    fn hostfile_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        std::fs::write(&p, "# cluster\nlocalhost:2101\n\nlocalhost\n").unwrap();
        let err = read_hostfile(&p).unwrap_err().to_string();
        assert!(err.contains(":4:"), "{err}");
        std::fs::write(&p, "localhost:2101\nlocalhost:2102 # second\n").unwrap();
        assert_eq!(read_hostfile(&p).unwrap(), vec!["localhost:2101", "localhost:2102"]);
        let args = ClusterArgs { processes: 3, hosts: Some(p), ..Default::default() };
        assert!(args.timely_config().unwrap_err().to_string().contains("lists 2 hosts"));
    }
}
