"""GPU inference coordinator: decoder LM, tokenizer, trainer, datastores, chunk RALM and kNN-LM."""
