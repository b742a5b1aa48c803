"""edgekit on Flower: the test app's ServerApp and ClientApp."""
