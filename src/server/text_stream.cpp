#include "server/text_stream.h"

#include <algorithm>
#include <utility>

#include "server/utf8.h"

namespace veloxquant::server {

TextStream::TextStream(std::vector<std::string> stops, std::string strip_prefix) : strip_(std::move(strip_prefix)) {
  for (std::string& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string TextStream::release(std::size_t n) {
  std::string out = utf8_replace_invalid(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  released_ += out;
  return out;
}

std::string TextStream::push(std::string_view bytes) {
  if (stopped_) return {};
  pending_ += bytes;
  if (!strip_.empty()) {
    if (strip_.compare(0, pending_.size(), pending_) == 0 && pending_.size() < strip_.size()) return {};  // undecided
    if (pending_.compare(0, strip_.size(), strip_) == 0) pending_.erase(0, strip_.size());
    strip_.clear();
  }
  // Text never released holds back any prefix of a stop string, so a stop string can only start
  // inside pending_.
  std::size_t cut = std::string::npos;
  for (const std::string& s : stops_) cut = std::min(cut, pending_.find(s));
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = release(cut);
    pending_.clear();
    return out;
  }
  std::size_t hold = 0;  // the longest tail of pending_ that is a proper prefix of a stop string
  for (const std::string& s : stops_)
    for (std::size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k)
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  const std::size_t safe = utf8_complete_length(std::string_view(pending_).substr(0, pending_.size() - hold));
  return release(safe);
}

std::string TextStream::finish() {
  if (stopped_) return {};
  return release(pending_.size());
}

}  // namespace veloxquant::server
