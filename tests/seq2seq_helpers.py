"""What the encoder-decoder's tests share: seed 002's own classes, verbatim (its batch-first
PositionalEncoding and TransformerModel, the reference the model is checked against), and a
small token model."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from attnlab.config import Seq2SeqConfig
from attnlab.model.seq2seq import EncoderDecoder


class SeedPositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=5000):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer('pe', pe)

    def forward(self, x):
        return x + self.pe[:x.size(1)].transpose(0, 1)


class SeedTransformerModel(nn.Module):
    def __init__(self, input_dim, d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward):
        super().__init__()
        self.d_model = d_model
        self.input_embedding = nn.Linear(input_dim, d_model)
        self.pos_encoder = SeedPositionalEncoding(d_model)
        self.transformer = nn.Transformer(d_model=d_model, nhead=nhead, num_encoder_layers=num_encoder_layers,
                                          num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                                          batch_first=True)
        self.fc_out = nn.Linear(d_model, input_dim)

    def forward(self, src, tgt):
        src = self.pos_encoder(self.input_embedding(src) * math.sqrt(self.d_model))
        tgt = self.pos_encoder(self.input_embedding(tgt) * math.sqrt(self.d_model))
        tgt_mask = self.transformer.generate_square_subsequent_mask(tgt.size(1)).to(src.device)
        output = self.transformer(src, tgt, tgt_mask=tgt_mask)
        return self.fc_out(output)



def seq2seq_token_model(norm="pre", seed=0, vocab=9):
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig(src_vocab_size=vocab, tgt_vocab_size=vocab, max_seq_len=32, d_model=32, n_heads=4,
                        d_ff=64, norm=norm, dropout=0.0)
    return EncoderDecoder(cfg).eval()

