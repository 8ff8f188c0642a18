"""A local AWS for this project: moto server plus API Gateway canaries, an execute-api data plane, metrics,
alarm evaluation and fault injection. See localcloud/README.md."""
