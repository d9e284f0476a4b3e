"""AWS Certificate Manager: imported certificates for HTTPS listeners."""
