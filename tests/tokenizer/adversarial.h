// tests/tokenizer/adversarial.h: hostile strings for the exactness gate and the unit tests.
#pragma once

#include <string>
#include <vector>

namespace synpref::tokenizer::testing {

inline std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Valid UTF-8 strings that stress the pre-tokenizer, BPE and added-token matching.
inline std::vector<std::string> adversarial_strings() {
  std::vector<std::string> v = {
      "",
      " ",
      "a",
      "Hello world",
      " Hello  world   ",
      // whitespace runs, newlines, tabs, CR/LF mixes, Unicode spaces
      repeat(" ", 2),
      repeat(" ", 3),
      repeat(" ", 17),
      repeat(" ", 1000),
      repeat(" ", 1000) + "x",
      "x" + repeat(" ", 1000),
      repeat("\n", 500),
      repeat("\r\n", 300),
      "a\n\n\nb",
      "a \n \n b",
      "a\t\tb",
      "\t\t\tdef f():\n\t\treturn 1\n",
      "line1\r\nline2\rline3\n",
      " \n",
      "\n ",
      "a  \n  b",
      "x\u00a0y\u00a0\u00a0z",
      "\u3000\u3000全角スペース\u3000",
      "a\u2028b\u2029c",
      "a\u0085b \u0085 c\u0085\u0085",
      "\ufeffBOM at start",
      "a \ufeff b\ufeff\ufeffc",
      "\u200b\u200c\u200dzero width",
      "\u2003em\u2009thin\u202fnarrow",
      // digits
      "1",
      "12",
      "123",
      "1234",
      "1234567890",
      repeat("9", 1000),
      "3.14159 2,718 1e-10 0x1F -42",
      "\u0661\u0662\u0663\u0664",
      "\uff11\uff12\uff13",
      "x\u00b2+y\u00b3",
      "\u216b\u2167 Roman",
      "\u2460\u2461\u2462",
      "year 2024: $1,000,000.00 (12%)",
      // CJK, other scripts
      "你好，世界！这是一个测试。",
      "日本語のテキストとカタカナ、ひらがな。",
      "한국어 텍스트입니다.",
      "Hello мир مرحبا שלום नमस्ते สวัสดี γειά σου",
      "Ελληνικά και Русский и 中文 mixed123",
      // emoji, ZWJ sequences, skin tones, flags, variation selectors
      "👨‍👩‍👧‍👦 family",
      "🏳️‍🌈 flag",
      "👍🏽👍🏿",
      "🇺🇸🇫🇷",
      "❤️ ❤︎",
      "😀😃😄😁😆😅😂🤣",
      "a😀b",
      // combining marks, NFC-sensitive text
      "e\u0301",
      "cafe\u0301 na\u0308ive",
      "a\u0308\u0301\u0323",
      "Z\u0351\u0357\u0346a\u0310\u0352l\u0313g\u0344o",
      "\u1100\u1161\u11a8",
      "\u212b\u2126",
      "ﬁ ﬂ ﬀ",
      "n\u0303o\u0303",
      "\u0041\u030a\u0301",
      // contractions and quotes
      "I'm you're we've they'll she'd it's don't",
      "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S DON'T",
      "'s 'S 't 'RE 'Ve 'lL",
      "''''",
      "'",
      "rock 'n' roll",
      "can\u2019t won\u2019t",
      "x'ſa",
      // special-token look-alikes (Qwen and Llama 3 names)
      "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
      "<|im_start",
      "<|im_start|",
      "im_start|>",
      "<<|im_end|>>",
      "<|endoftext|><|endoftext|>",
      "<think>\n\n</think>\n\n",
      "<think></think>",
      "<|eot_id|>",
      "<|begin_of_text|><|begin_of_text|>x",
      "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
      "<|eot_id",
      "|eot_id|>",
      "<|eom_id|>",
      "<|python_tag|>",
      "<|reserved_special_token_4|>",
      "<|reserved_special_token_250|>",
      "<|finetune_right_pad_id|>",
      "<tool_call>{\"a\": 1}</tool_call>",
      "text<|im_end|>text",
      " <|im_end|> ",
      "<|fim_prefix|>def<|fim_suffix|>",
      "<|",
      "|>",
      "<||>",
      // code and punctuation
      "def f(x):\n    return x ** 2  # comment\n",
      "if (a && b) { c->d[i] += 1; }",
      "#include <vector>\n",
      "!!!???...,,,;;;",
      "-----\n=====\n*****",
      "http://example.com/path?q=1&r=2#frag",
      "a/b\\c|d~e^f`g",
      "<html><body>&nbsp;&amp;</body></html>",
      "$$\\frac{a}{b}$$",
      // control characters, NUL, replacement char
      std::string("a\0b", 3),
      std::string("\0\0\0", 3),
      "\x01\x02\x7f",
      "\ufffd\ufffd",
      "\u00ad soft hyphen",
      // long words
      repeat("a", 20000),
      repeat("ab", 5000),
      repeat("あ", 3000),
      repeat("😀", 1000),
      repeat("Ā", 4000),
  };
  return v;
}

}  // namespace synpref::tokenizer::testing
