"""labcloud's AWS deployment as a CDK app: see `stack.LabcloudStack` and README."""
