// The generated text of one request as it grows a token at a time: applies the stop strings and
// releases only text that can no longer change. Held back are a tail that may be the start of a
// stop string and a UTF-8 character whose bytes have not all arrived; a stop string found ends the
// text just before it (the stop string itself is not part of the output).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace veloxquant::server {

class TextStream {
 public:
  // Empty stop strings are ignored.
  explicit TextStream(std::vector<std::string> stops, std::string strip_prefix = "");

  // Adds the bytes of one token; returns the text released by it (valid UTF-8, maybe empty).
  std::string push(std::string_view bytes);
  // True once a stop string appeared; push then releases nothing more.
  bool stopped() const { return stopped_; }
  // Releases what is held back (generation ended); invalid bytes become U+FFFD.
  std::string finish();
  const std::string& text() const { return released_; }  // everything released so far

 private:
  std::string release(std::size_t n);

  std::vector<std::string> stops_;
  std::string strip_;  // still to be dropped from the start, until text that does not start with it
  std::string pending_, released_;
  bool stopped_ = false;
};

}  // namespace veloxquant::server
