// UTF-8 and Unicode helpers shared by the tokenizer components (internal to src/tokenizer).
// All functions are pure and thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mlxm::tok {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Length in bytes of the UTF-8 sequence starting with `lead` (1 for invalid leads).
inline size_t utf8_seq_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

// Decodes the code point at s[i]. REQUIRES: s is valid UTF-8 and i < s.size() is at a character
// boundary. Sets *len to the number of bytes consumed.
uint32_t utf8_decode(std::string_view s, size_t i, size_t* len);

// Appends the UTF-8 encoding of `cp` to *out.
void utf8_append(std::string* out, uint32_t cp);

// True when `s` is well-formed UTF-8 (no surrogates, no overlongs, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Returns `s` with every ill-formed subsequence replaced by U+FFFD using the "maximal subpart"
// rule (WHATWG TextDecoder, Rust String::from_utf8_lossy). Valid input is returned unchanged.
std::string utf8_lossy(std::string_view s);

// Length in bytes of the longest prefix of `s` that does not end inside an incomplete (but so far
// valid) UTF-8 sequence. Used by streaming code to hold back a partial character.
size_t utf8_complete_prefix_len(std::string_view s);

// Unicode White_Space property (what Oniguruma's and JS's \s mean in tokenizer regexes).
bool is_white_space(uint32_t cp);

// Unicode general category helpers (via utf8proc).
bool is_alphanumeric(uint32_t cp);  // L* or N*
bool is_punctuation(uint32_t cp);   // P* or ASCII punctuation (Rust tokenizers' definition)
bool is_numeric(uint32_t cp);       // N*

// GPT-2 byte-level alphabet: byte -> code point, code point -> byte (-1 when not in the alphabet).
uint32_t byte_to_code_point(uint8_t b);
int code_point_to_byte(uint32_t cp);
// byte -> its alphabet character encoded in UTF-8.
const std::array<std::string, 256>& byte_level_chars();

}  // namespace mlxm::tok
