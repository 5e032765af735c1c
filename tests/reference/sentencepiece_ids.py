"""SentencePiece's own token ids, the reference of veloxquant's SentencePiece tokenizer
(tests/runner_tokenizer_reference_test.cpp): encodes each string of a JSON array with Debian's
python3-sentencepiece and writes {"ids": [[...], ...]}.

    /usr/bin/python3 sentencepiece_ids.py tok.model lines.json out.json
"""
import json
import sys

import sentencepiece


def main():
    model, lines_path, out_path = sys.argv[1:4]
    sp = sentencepiece.SentencePieceProcessor(model_file=model)
    with open(lines_path, encoding="utf-8") as f:
        lines = json.load(f)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"ids": [sp.encode(line) for line in lines]}, f)


if __name__ == "__main__":
    main()
