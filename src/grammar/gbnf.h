// GBNF (llama.cpp's grammar notation) -> Grammar, for the `grammar` request field.
//
//   root   ::= "{" ws pair ("," ws pair)* "}"     # comments run to the end of the line
//   pair   ::= [a-z]+ ":" ws ( num | "\"" [^"\\]* "\"" )
//   num    ::= "-"? [0-9]+ ("." [0-9]{1,6})?
//   ws     ::= [ \t\n]*
//
// Supported: rules (`name ::= ...`, names of letters, digits, '-' and '_'; `root` is the start),
// alternation `|`, sequences, groups `( )`, postfix `*` `+` `?` `{m}` `{m,}` `{m,n}` (m, n <=
// 1000), string literals with escapes (\n \r \t \\ \" \' \[ \] \xHH \uHHHH \UHHHHHHHH), character
// classes over code points with ranges and `^` negation (matched as well-formed UTF-8), `.` (any
// character), rule references (forward ones too). A rule may span lines; it ends where the next
// `name ::=` starts. Left recursion, undefined rules and a missing root are errors.
//
// Thread-safety: a pure function.
#pragma once

#include <memory>
#include <string_view>

#include "core/status.h"
#include "grammar/grammar.h"

namespace mlxm::grammar {

inline constexpr size_t kMaxGbnfBytes = 256 * 1024;

// A finalized grammar, or InvalidArgument whose message names the problem and where it is
// ("line 3, column 12: expected '::=' after the rule name 'value'").
Result<std::shared_ptr<const Grammar>> parse_gbnf(std::string_view text);

}  // namespace mlxm::grammar
