"""`invoke bench`: remediate's fleet dry-run against Ansible, pyinfra and a bare-paramiko floor, on the lab."""
