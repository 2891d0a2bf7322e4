"""What the paper specifies (Sections 2-3): the configuration with the paper's values as defaults, log-mel
features, the vocabulary, the model (encoder with temporal sub-sampling, decoder), the weighted loss, batching,
training with early stopping, and greedy decoding. Nothing here knows about run folders or notebooks."""
