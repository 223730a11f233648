"""Language side: tokenising, keyword tagging, vocabulary, word vectors."""
