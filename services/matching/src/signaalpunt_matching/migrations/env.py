from signaalpunt_runtime.migrations import run_env

run_env()
