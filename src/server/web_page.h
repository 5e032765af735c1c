// GET /: one self-contained HTML page (no external assets) that polls GET /sessions every second
// and shows the sessions in a table: state, tokens, KV bytes against what f16 would need (numbers
// and a bar: grey is f16, green the compressed cache), tokens/s, plus the totals.
#pragma once

namespace veloxquant::server {

const char* web_page_html();

}  // namespace veloxquant::server
