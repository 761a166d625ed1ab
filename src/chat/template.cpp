#include "synpref/chat/template.h"

#include <locale.h>
#include <time.h>

#include <charconv>
#include <chrono>
#include <cstdio>

#include "chat/jinja/interp.h"
#include "chat/jinja/parser.h"
#include "synpref/common/text.h"

namespace synpref::chat {

// --- dates -----------------------------------------------------------------------------------------

Result<LocalDateTime> LocalDateTime::parse(std::string_view iso) {
  auto bad = [&]() {
    return invalid_argument("invalid date-time '" + std::string(iso) +
                            "': expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.ffffff]]");
  };
  auto num = [&](size_t at, size_t len, int& out) {
    if (at + len > iso.size()) return false;
    for (size_t i = at; i < at + len; ++i)
      if (iso[i] < '0' || iso[i] > '9') return false;
    std::from_chars(iso.data() + at, iso.data() + at + len, out);
    return true;
  };
  LocalDateTime t;
  if (!num(0, 4, t.year) || iso.size() < 10 || iso[4] != '-' || !num(5, 2, t.month) || iso[7] != '-' ||
      !num(8, 2, t.day))
    return bad();
  size_t p = 10;
  if (p < iso.size()) {
    if ((iso[p] != 'T' && iso[p] != ' ') || !num(p + 1, 2, t.hour) || p + 3 >= iso.size() ||
        iso[p + 3] != ':' || !num(p + 4, 2, t.minute))
      return bad();
    p += 6;
    if (p < iso.size()) {
      if (iso[p] != ':' || !num(p + 1, 2, t.second)) return bad();
      p += 3;
      if (p < iso.size()) {
        if (iso[p] != '.') return bad();
        size_t digits = iso.size() - p - 1;
        if (digits < 1 || digits > 6 || !num(p + 1, digits, t.microsecond)) return bad();
        for (size_t k = digits; k < 6; ++k) t.microsecond *= 10;
      }
    }
  }
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (t.year % 4 == 0 && t.year % 100 != 0) || t.year % 400 == 0;
  if (t.year < 1 || t.month < 1 || t.month > 12 || t.day < 1 || t.day > kDays[t.month - 1] ||
      (t.month == 2 && t.day == 29 && !leap) || t.hour > 23 || t.minute > 59 || t.second > 59)
    return bad();
  return t;
}

LocalDateTime LocalDateTime::now() {
  auto tp = std::chrono::system_clock::now();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(tp.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(us / 1000000);
  struct tm tm {};
  localtime_r(&secs, &tm);
  LocalDateTime t;
  t.year = tm.tm_year + 1900;
  t.month = tm.tm_mon + 1;
  t.day = tm.tm_mday;
  t.hour = tm.tm_hour;
  t.minute = tm.tm_min;
  t.second = tm.tm_sec;
  t.microsecond = static_cast<int>(us % 1000000);
  return t;
}

Result<std::string> strftime_local(const LocalDateTime& t, std::string_view format) {
  // Python's datetime.strftime: %f, %z, %Z are expanded first (a naive datetime has no offset or
  // zone name), the rest goes to the C library's strftime in the C locale.
  std::string fmt;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      char c = format[i + 1];
      if (c == 'f') {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "%06d", t.microsecond);
        fmt += buf;
        ++i;
        continue;
      }
      if (c == 'z' || c == 'Z') {
        ++i;
        continue;
      }
      fmt += format[i];
      fmt += c;
      ++i;
      continue;
    }
    if (format[i] == '\0') return invalid_argument("embedded null character in strftime format");
    fmt += format[i];
  }
  struct tm tm {};
  tm.tm_year = t.year - 1900;
  tm.tm_mon = t.month - 1;
  tm.tm_mday = t.day;
  tm.tm_hour = t.hour;
  tm.tm_min = t.minute;
  tm.tm_sec = t.second;
  tm.tm_isdst = -1;
  {
    // Weekday and day of year from the civil date (timegm normalizes without time zones).
    struct tm copy = tm;
    time_t secs = timegm(&copy);
    struct tm norm {};
    gmtime_r(&secs, &norm);
    tm.tm_wday = norm.tm_wday;
    tm.tm_yday = norm.tm_yday;
  }
  static locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(0));
  if (fmt.empty()) return std::string();
  for (size_t cap = 256; cap <= (1u << 20); cap *= 4) {
    std::string buf(cap + fmt.size() * 8, '\0');
    size_t n = strftime_l(buf.data(), buf.size(), fmt.c_str(), &tm, c_locale);
    if (n > 0) {
      buf.resize(n);
      return buf;
    }
  }
  return std::string();  // the format expands to nothing (e.g. "%p" in some locales)
}

// --- Template --------------------------------------------------------------------------------------

Result<Template> Template::compile(std::string source) {
  SP_ASSIGN_OR_RETURN(auto program, detail::parse_template(std::move(source)));
  return Template(std::move(program));
}

const std::string& Template::source() const {
  return program_->source;
}

namespace {

// Rejects strings that are not valid UTF-8 (possible when values are built in code; the
// interpreter's string functions assume valid UTF-8).
Status check_utf8(const Value& v, const std::string& path, int depth = 0) {
  if (depth > 512) return data_error("chat template input " + path + " is nested too deeply");
  if (v.is_string()) {
    if (!text::is_valid_utf8(v.as_string()))
      return data_error("chat template input " + path + " is not valid UTF-8");
  } else if (v.is_list()) {
    const auto& items = v.items();
    for (size_t i = 0; i < items.size(); ++i)
      SP_RETURN_IF_ERROR(check_utf8(items[i], path + "[" + std::to_string(i) + "]", depth + 1));
  } else if (v.is_dict()) {
    for (const auto& [key, item] : v.entries()) {
      std::string key_text = key.is_string() ? key.as_string() : "<key>";
      if (key.is_string() && !text::is_valid_utf8(key_text))
        return data_error("chat template input " + path + " has a key that is not valid UTF-8");
      SP_RETURN_IF_ERROR(check_utf8(item, path + "." + key_text, depth + 1));
    }
  }
  return Status::ok();
}

Result<std::string> render_unchecked(const detail::Program& program, const Value& context,
                                     const RenderOptions& options) {
  detail::Interp interp(program, options);
  return interp.render(context);
}

}  // namespace

Result<std::string> Template::render(const Value& context, const RenderOptions& options) const {
  SP_CHECK_MSG(context.is_dict() || context.is_undefined(), "Template::render context must be a dict");
  SP_RETURN_IF_ERROR(check_utf8(context, "context"));
  return render_unchecked(*program_, context, options);
}

Result<std::string> apply_chat_template(const Template& tmpl, const Value& messages,
                                        const ChatTemplateArgs& args) {
  if (!messages.is_list()) return invalid_argument("chat messages must be a list of message dicts");
  if (!args.extra.is_dict() && !args.extra.is_undefined())
    return invalid_argument("extra chat template variables must be a dict");
  std::vector<std::pair<Value, Value>> ctx;
  ctx.emplace_back(Value::string("messages"), messages);
  ctx.emplace_back(Value::string("tools"), args.tools);
  ctx.emplace_back(Value::string("documents"), args.documents);
  ctx.emplace_back(Value::string("add_generation_prompt"), Value::boolean(args.add_generation_prompt));
  if (args.extra.is_dict())
    for (const auto& entry : args.extra.entries()) ctx.push_back(entry);
  return tmpl.render(Value::dict(std::move(ctx)), args.options);
}

Result<std::string> apply_chat_template(std::string_view template_source, const Value& messages,
                                        const ChatTemplateArgs& args) {
  SP_ASSIGN_OR_RETURN(Template tmpl, Template::compile(std::string(template_source)));
  return apply_chat_template(tmpl, messages, args);
}

}  // namespace synpref::chat
