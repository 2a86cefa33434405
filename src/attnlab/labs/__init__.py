"""The labs, each a package trained by the one loop: ladder/, induction/, seq2seq/."""
