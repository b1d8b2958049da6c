"""Generator (LSTM LM) and discriminator (CNN) modules."""
