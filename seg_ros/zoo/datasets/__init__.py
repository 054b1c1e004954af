"""Class names and colours of the datasets the zoo's models were trained on."""
