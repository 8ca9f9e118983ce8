"""Edge devices over SSH: the bundle that goes to the device, the SSH calls, deploy."""
