/* The template engine (src/text/jinja*.c): every construct against outputs of
 * Python's jinja2 3.1 in the environment model hubs use (see
 * tests/template_oracle.py; the expected strings below were produced by it),
 * error messages, limits against hostile templates, truncated and mutated
 * real templates, allocation failures, and concurrent renders. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/platform.h"
#include "text/jinja.h"

/* Variables shared by the rendering cases. */
static const char *const VARS = "{\"x\": 1, \"f\": 2.5, \"s\": \"hello World\", \"u\": \"\346\235\261\344\272\254\343\201\256\345\244\251\346\260\227\343\201\257\357\274\237\", \"l\": [3, 1, 2], \"n\": null, \"t\": true, \"d\": {\"a\": 1, \"b\": [1, 2], \"c\": {\"z\": \"q\"}}, \"users\": [{\"name\": \"bob\", \"age\": 30}, {\"name\": \"Al\", \"age\": 25}, {\"name\": \"cy\"}], \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"  Hi there \\n\"}, {\"role\": \"assistant\", \"content\": \"Hello!\"}]}";

static json_t *vars_json(void) {
    json_error_t je;
    return json_loads(VARS, 0, &je);
}

/* Parses and renders; returns the status, the output in *out (caller frees) or the message in err. */
static lair_status render(const char *src, size_t len, const json_t *vars, const lair_jinja_limits *lim, char **out,
                          size_t *out_len, lair_err *err) {
    lair_jinja *t = NULL;
    *out = NULL;
    lair_status st = lair_jinja_parse(src, len, &t, err);
    if (st == LAIR_OK) st = lair_jinja_render(t, vars, lim, out, out_len, err);
    lair_jinja_free(t);
    return st;
}

static const struct {
    const char *name, *src, *want;
} cases[] = {
    {"literals",
     "{{ 1 }}|{{ 1.0 }}|{{ 'a' }}|{{ \"b\" }}|{{ true }}|{{ False }}|{{ none }}|{{ [1, 'a'] }}|{{ (1,) }}|{{ {'k': 1} }}",
     "1|1.0|a|b|True|False|None|[1, 'a']|(1,)|{'k': 1}"},
    {"variables",
     "{{ x }}|{{ f }}|{{ s }}|{{ u }}|{{ l }}|{{ n }}|{{ t }}|{{ d }}",
     "1|2.5|hello World|\346\235\261\344\272\254\343\201\256\345\244\251\346\260\227\343\201\257\357\274\237|[3, 1, 2]|None|True|{'a': 1, 'b': [1, 2], 'c': {'z': 'q'}}"},
    {"undefined_prints_empty",
     "[{{ nope }}]{{ nope is defined }}{{ nope is undefined }}{{ d.nope is defined }}",
     "[]FalseTrueFalse"},
    {"arithmetic",
     "{{ 1 + 2 }} {{ 1 - 2.5 }} {{ 2 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 % 2 }}",
     "3 -1.5 6 3.5 3 -4 1 2 1024 0.5 1.5"},
    {"precedence",
     "{{ 1 + 2 * 3 - 4 / 2 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 2 * 3 ~ 4 }} {{ not 1 == 2 }} {{ 10 - 2 - 3 }}",
     "5.0 4 64 64 True 5"},
    {"floats",
     "{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 0.0001 }} {{ -0.0 }} {{ 1 / 3 }} {{ 123456789.123456789 }} {{ 3.0 * 2 }}",
     "0.30000000000000004 1e+16 1.5e-05 0.0001 -0.0 0.3333333333333333 123456789.12345679 6.0"},
    {"concat",
     "{{ 'a' ~ 1 ~ none ~ true ~ [1] ~ 1.5 }}",
     "a1NoneTrue[1]1.5"},
    {"string_repeat",
     "{{ 'ab' * 3 }}{{ [1] * 2 }}{{ 2 * 'x' }}",
     "ababab[1, 1]xx"},
    {"compare",
     "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ none == none }} {{ (1,) == [1] }}",
     "True False True True True True True False"},
    {"membership",
     "{{ 'a' in 'abc' }} {{ 1 in l }} {{ 'a' in d }} {{ 'zz' not in d }} {{ 5 not in l }}",
     "True True True True True"},
    {"logic_returns_operands",
     "{{ x and s }} {{ 0 and s }} {{ n or 'dflt' }} {{ not x }} {{ nope or 'fb' }}",
     "hello World 0 dflt False fb"},
    {"conditional_expr",
     "{{ 'y' if x else 'n' }} {{ 'y' if n else 'n' }} [{{ 'y' if n }}] {{ 'a' if false else 'b' if true else 'c' }}",
     "y n [] b"},
    {"string_methods",
     "{{ s.upper() }} {{ s.lower() }} {{ s.title() }} {{ s.capitalize() }} {{ s.swapcase() }} {{ s.startswith('hell') }} {{ s.endswith(('x', 'ld')) }} {{ s.find('o') }} {{ s.rfind('o') }} {{ s.count('l') }}",
     "HELLO WORLD hello world Hello World Hello world HELLO wORLD True True 4 7 3"},
    {"strip_split",
     "{{ '  a b \\n'.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a  b  '.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ '  a  b  '.split(None, 1) }}",
     "a b|a|['a', 'b']|['a', 'b', '', 'c']|['a,b', 'c']|['a', 'b  ']"},
    {"replace_join_format",
     "{{ s.replace('l', 'L') }} {{ s.replace('l', 'L', 1) }} {{ '-'.join(['a', 'b']) }} {{ '{} and {}'.format(1, 'b') }} {{ '{x}!'.format(x=3) }} {{ '{:>6}|{:05.1f}|{:,}'.format('ab', 3.14159, 1234567) }}",
     "heLLo WorLd heLlo World a-b 1 and b 3!     ab|003.1|1,234,567"},
    {"percent_format",
     "{{ '%s is %d, %.2f%%' % ('bob', 30, 99.5) }} {{ '%5s|%-5s|%03d' % ('a', 'b', 7) }} {{ '%r' % 'q' }} {{ '%(a)s-%(b)s' % {'a': 1, 'b': 2} }}",
     "bob is 30, 99.50%     a|b    |007 'q' 1-2"},
    {"attribute_and_item",
     "{{ d.a }} {{ d['b'] }} {{ d.b[1] }} {{ d.c.z }} {{ d.get('a') }} {{ d.get('zz', 5) }} {{ messages[0].role }} {{ messages[0]['content'] }} {{ users[2].age is defined }}",
     "1 [1, 2] 2 q 1 5 system Be brief. False"},
    {"dict_methods_shadow_keys",
     "{% set m = {'items': 'k', 'role': 'r'} %}{{ m['items'] }} {{ m.role }} {{ m.items()|list }} {{ m.keys()|list }} {{ m.values()|list }}",
     "k r [('items', 'k'), ('role', 'r')] ['items', 'role'] ['k', 'r']"},
    {"subscript_slice",
     "{{ l[0] }} {{ l[-1] }} {{ l[1:] }} {{ l[::-1] }} {{ l[:-1] }} [{{ l[5] }}] {{ s[1:4] }} {{ s[-3:] }} {{ u[1:3] }} {{ u[::-1] }} {{ s[::2] }}",
     "3 2 [1, 2] [2, 1, 3] [3, 1] [] ell rld \344\272\254\343\201\256 \357\274\237\343\201\257\346\260\227\345\244\251\343\201\256\344\272\254\346\235\261 hloWrd"},
    {"for_loop_vars",
     "{% for i in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
     "1032TrueFalse3|2121FalseFalse3|3210FalseTrue3|"},
    {"for_prev_next_cycle",
     "{% for i in l %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('a', 'b') }};{% endfor %}",
     "-1-a;3-2-b;1--a;"},
    {"for_else_filter",
     "{% for i in [] %}x{% else %}empty{% endfor %} {% for i in l if i > 1 %}{{ i }}:{{ loop.index }}/{{ loop.length }} {% endfor %}",
     "empty 3:1/2 2:2/2 "},
    {"for_unpack_dict",
     "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }},{% endfor %}{% for k, v in d|items %}{{ k }}{% endfor %}",
     "a=1;b=[1, 2];c={'z': 'q'};a,b,c,abc"},
    {"for_string_chars",
     "{% for c in u %}[{{ c }}]{% endfor %}",
     "[\346\235\261][\344\272\254][\343\201\256][\345\244\251][\346\260\227][\343\201\257][\357\274\237]"},
    {"break_continue",
     "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
     "0134"},
    {"nested_loops",
     "{% for a in [[1, 2], [3, 4]] %}{% for b in a %}{{ loop.index }}:{{ b }} {% endfor %}{{ loop.index }};{% endfor %}",
     "1:1 2:2 1;1:3 2:4 2;"},
    {"recursive_loop",
     "{% for item in [1, [2, [3]], 4] recursive %}{% if item is iterable %}[{{ loop(item) }}]{% else %}{{ item }}@{{ loop.depth }}{% endif %}{% endfor %}",
     "1@1[2@2[3@3]]4@1"},
    {"loop_changed",
     "{% for i in [1, 1, 2, 2, 1] %}{{ loop.changed(i) }} {% endfor %}",
     "True False True False True "},
    {"set_and_scope",
     "{% set a = 5 %}{{ a }}{% set b, c = 1, 2 %}{{ b }}{{ c }}{% set z = 1 %}{% for i in l %}{% set z = z + i %}{{ z }}{% endfor %}{{ z }}{% if true %}{% set w = 3 %}{% endif %}{{ w }}",
     "51242313"},
    {"namespace",
     "{% set ns = namespace(v=0, found=false) %}{% for i in l %}{% set ns.v = ns.v + i %}{% if i == 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.v }} {{ ns.found }} {{ ns }}",
     "6 True <Namespace {'v': 6, 'found': True}>"},
    {"block_set",
     "{% set blk %}inner {{ x }}{% endset %}[{{ blk }}]{% set b2 | upper %}low{% endset %}{{ b2 }}",
     "[inner 1]LOW"},
    {"macros",
     "{% macro m(a, b=2, c='x') %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }} {{ m(1, 3) }} {{ m(1, c='z') }} {{ m(b=5, a=0) }} [{{ m() }}]",
     "1-2-x 1-3-x 1-2-z 0-5-x [-2-x]"},
    {"macro_caller",
     "{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}body {{ x }}{% endcall %}{% macro w2(t) %}{{ caller(t * 2) }}{% endmacro %}{% call(v) w2(3) %}got {{ v }}{% endcall %}",
     "<body 1>got 6"},
    {"macro_varargs_kwargs",
     "{% macro va(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ va(1, 2, 3, k=4) }}",
     "1(2, 3){'k': 4}"},
    {"macro_sees_later_globals",
     "{% set g = 1 %}{% macro m() %}{{ g }}{% endmacro %}{% set g = 2 %}{{ m() }}",
     "2"},
    {"filter_block",
     "{% filter upper %}hello {{ s }}{% endfilter %}|{% filter replace('a', 'b')|upper %}banana{% endfilter %}",
     "HELLO HELLO WORLD|BBNBNB"},
    {"with_block",
     "{% set q = 5 %}{% with q = q + 1, r = 2 %}{{ q }}{{ r }}{% endwith %}{{ q }}",
     "625"},
    {"raw_and_comments",
     "{% raw %}{{ not processed }}{% endraw %}{# comment #}after",
     "{{ not processed }}after"},
    {"trim_lstrip_blocks",
     "a\n  {% if true %}\n  b\n  {% endif %}\nc\n{% for i in l %}\n  - {{ i }}\n{% endfor %}\nend",
     "a\n  b\nc\n  - 3\n  - 1\n  - 2\nend"},
    {"whitespace_control",
     "a {{- ' b ' -}} c {%+ if x %}d{% endif %}\n    {%- if x %}\ne\n    {%- endif %}\n  {# c #}\nf{{ 'g' }}  {% if true %}h{% endif %}",
     "a b c defg  h"},
    {"plus_disables_trim",
     "{% if true +%}\nkeep\n{% endif %}|  {%+ if true %}x{% endif %}",
     "\nkeep\n|  x"},
    {"comment_trim",
     "x {#- c -#} y\n{# c2 #}\nz\n  {# indented #}\nw",
     "xy\nz\nw"},
    {"raw_whitespace",
     "{% raw -%}  {{ x }}  {%- endraw %}|   {% raw %}\n{{x}}\n   {% endraw %}\nq",
     "{{ x }}|   \n{{x}}\nq"},
    {"newlines_normalized",
     "line1\r\nline2\rline3\n",
     "line1\nline2\nline3"},
    {"trailing_newline_dropped",
     "text\n\n",
     "text\n"},
    {"string_escapes",
     "{{ '\\u00e9\\x41\\101\\n\\t|\\q' }}{{ 'a' 'b' \"c\" }}",
     "\303\251AA\n\t|\\qabc"},
    {"int_literals",
     "{{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 1_000 }} {{ 1.5e3 }} {{ 2E-2 }}",
     "31 5 15 1000 1500.0 0.02"},
    {"python_repr",
     "{{ ['it\\'s', 'say \"hi\"', 'tab\\there', 'uni \303\251 \346\235\261', '\\x00'] }} {{ {'a': (1, 2), 'b': none} }}",
     "[\"it's\", 'say \"hi\"', 'tab\\there', 'uni \303\251 \346\235\261', '\\x00'] {'a': (1, 2), 'b': None}"},
    {"tests",
     "{{ x is number }} {{ f is float }} {{ x is integer }} {{ t is boolean }} {{ s is string }} {{ d is mapping }} {{ l is iterable }} {{ l is sequence }} {{ x is iterable }} {{ n is none }} {{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 'a' is in 'abc' }} {{ 3 is gt 2 }} {{ t is true }} {{ 'abc' is lower }} {{ 'upper' is filter }} {{ 'odd' is test }}",
     "True True True True True True True True False True True True True True True True True True True"},
    {"filter_length_first_last",
     "{{ l|length }} {{ s|length }} {{ u|length }} {{ d|length }} {{ l|count }} {{ l|first }} {{ l|last }} {{ s|first }} {{ l|min }} {{ l|max }} {{ l|sum }}",
     "3 11 7 3 3 3 2 h 1 3 6"},
    {"filter_sort",
     "{{ l|sort }} {{ ['b', 'A', 'a']|sort }} {{ ['b', 'A', 'a']|sort(case_sensitive=true) }} {{ l|sort(reverse=true) }} {{ users|sort(attribute='name')|map(attribute='name')|join(',') }}",
     "[1, 2, 3] ['A', 'a', 'b'] ['A', 'a', 'b'] [3, 2, 1] Al,bob,cy"},
    {"filter_join_map",
     "{{ ['a', 'b']|join }} {{ ['a', 'b']|join(', ') }} {{ users|join(', ', attribute='name') }} {{ users|map(attribute='age', default=0)|list }} {{ ['a', 'b']|map('upper')|list }}",
     "ab a, b bob, Al, cy [30, 25, 0] ['A', 'B']"},
    {"filter_select",
     "{{ users|selectattr('age')|map(attribute='name')|list }} {{ users|selectattr('name', 'equalto', 'bob')|list }} {{ users|rejectattr('age', 'defined')|list }} {{ l|select('odd')|list }} {{ l|reject('even')|list }} {{ [0, 1, '', 'a', none]|select|list }}",
     "['bob', 'Al'] [{'name': 'bob', 'age': 30}] [{'name': 'cy'}] [3, 1] [3, 1] [1, 'a']"},
    {"filter_unique_dictsort",
     "{{ [1, 2, 1, 3]|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ d|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }}",
     "[1, 2, 3] ['a', 'b'] [('a', 1), ('b', [1, 2]), ('c', {'z': 'q'})] [('b', 1), ('a', 2)]"},
    {"filter_batch_slice_groupby",
     "{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3, 4, 5]|batch(2, 'x')|list }} {{ [1, 2, 3, 4, 5]|slice(2)|list }} {% for g in users|groupby('name') %}{{ g.grouper }}:{{ g.list|length }} {% endfor %}",
     "[[1, 2], [3, 4], [5]] [[1, 2], [3, 4], [5, 'x']] [[1, 2, 3], [4, 5]] Al:1 bob:1 cy:1 "},
    {"filter_strings",
     "{{ s|upper }} {{ s|lower }} {{ s|title }} {{ 'hELLO wORLD'|capitalize }} {{ 'a-b c(d'|title }} {{ '  x  '|trim }} {{ 'xxhixx'|trim('x') }} {{ s|replace('o', '0') }} {{ s|reverse }} {{ s|center(15) }}| {{ s|wordcount }} {{ u|wordcount }}",
     "HELLO WORLD hello world Hello World Hello world A-B C(D x hi hell0 W0rld dlroW olleh   hello World  | 2 1"},
    {"filter_numbers",
     "{{ 3.7|int }} {{ '42'|int }} {{ '4.5'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3|float }} {{ '2.5'|float }} {{ -3|abs }} {{ 2.567|round }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 2.567|round(1, 'floor') }} {{ 5|round }}",
     "3 42 4 0 7 3.0 2.5 3 3.0 2.57 2.0 2.5 5"},
    {"filter_default_string",
     "{{ nope|default('dflt') }} {{ ''|default('dflt') }} {{ ''|default('dflt', true) }} {{ n|d('nn', true) }} {{ x|string ~ '!' }} {{ l|string }}",
     "dflt  dflt nn 1! [3, 1, 2]"},
    {"filter_tojson",
     "{{ d|tojson }} {{ u|tojson }} {{ [1, 2.5, none, true, 'a\"b\\n']|tojson }} {{ d|tojson(indent=2) }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ users|tojson(separators=(',', ':')) }} {{ '\303\251'|tojson(true) }} {{ []|tojson(indent=2) }}",
     "{\"a\": 1, \"b\": [1, 2], \"c\": {\"z\": \"q\"}} \"\346\235\261\344\272\254\343\201\256\345\244\251\346\260\227\343\201\257\357\274\237\" [1, 2.5, null, true, \"a\\\"b\\n\"] {\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": {\n    \"z\": \"q\"\n  }\n} {\"a\": 2, \"b\": 1} [{\"name\":\"bob\",\"age\":30},{\"name\":\"Al\",\"age\":25},{\"name\":\"cy\"}] \"\\u00e9\" []"},
    {"filter_indent",
     "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb\\n\\nc'|indent(2, true) }}|{{ 'a\\nb\\n\\nc'|indent(2, blank=true) }}|{{ 'a\\nb\\n'|indent(first=true) }}|{{ 'x'|indent('>>', true) }}",
     "a\n    b\n\n    c|  a\n  b\n\n  c|a\n  b\n  \n  c|    a\n    b\n|>>x"},
    {"filter_truncate_striptags",
     "{{ 'hello world foo bar'|truncate(9) }} {{ 'hello world foo bar'|truncate(9, true) }} {{ 'short'|truncate(9) }} {{ '<b>x</b> &amp;  y'|striptags }}",
     "hello... hello ... short x & y"},
    {"markup_escaping",
     "{{ '<a>'|e }} {{ '<a>'|safe }} {{ ('<'|safe) ~ '<' }} {{ '<'|safe + '<' }} {{ '<' + '<'|safe }} {{ \"x'\"|safe + \"'\" }}",
     "&lt;a&gt; <a> << <&lt; &lt;< x'&#39;"},
    {"globals",
     "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1, b=2) }} {{ namespace(a=1).a }} {{ strftime_now is defined }}",
     "[0, 1, 2] [1, 4, 7] [5, 3, 1] {'a': 1, 'b': 2} 1 True"},
    {"list_pop_allowed",
     "{% set q = [1, 2, 3] %}{{ q.pop() }}{{ q }}{{ q.pop(0) }}{{ q }}",
     "3[1, 2]1[2]"},
    {"unsafe_method_is_undefined_until_called",
     "[{{ l.append }}]{{ l.append is defined }}",
     "[]False"},
    {"generators_run_once",
     "{% set g = l|select('odd') %}{{ g|list }}{{ g|list }}",
     "[3, 1][]"},
    {"messages_idioms",
     "{%- if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set sys = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% endif %}[{{ sys }}]{% for m in loop_messages %}{{ m.role }}:{{ m.content|trim }};{% endfor %}{{ messages|selectattr('role', 'equalto', 'user')|list|length }}",
     "[Be brief.]user:Hi there;assistant:Hello!;1"},
    {"block_statement",
     "{% block content %}blk{{ x }}{% endblock content %}",
     "blk1"},
    {"print_statement",
     "{% print 'printed', 1 %}",
     "printed1"},
};

TEST(render_matches_jinja2) {
    json_t *v = vars_json();
    REQUIRE(v);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        size_t n;
        lair_err err = {0};
        lair_status st = render(cases[i].src, strlen(cases[i].src), v, NULL, &out, &n, &err);
        if (st != LAIR_OK) {
            CHECKF(0, "%s: %s", cases[i].name, err.msg);
            continue;
        }
        CHECKF(n == strlen(cases[i].want) && memcmp(out, cases[i].want, n) == 0, "%s: got \"%s\", want \"%s\"", cases[i].name, out,
               cases[i].want);
        CHECKF(out[n] == '\0', "%s: output not NUL-terminated", cases[i].name);
        lair_free(out);
    }
    json_decref(v);
}

static const struct {
    const char *name, *src;
    lair_status st;
    const char *msg; /* a substring of the error message */
} errors[] = {
    {"unknown_filter", "line one\n{{ x|foo }}", LAIR_ERR_FORMAT, "template: line 2: unknown filter 'foo'"}, /* jinja2: TemplateAssertionError */
    {"unknown_test", "{{ x is foo }}", LAIR_ERR_FORMAT, "unknown test 'foo'"}, /* jinja2: TemplateAssertionError */
    {"unclosed_if", "a\n{% if x %}b", LAIR_ERR_FORMAT, "line 2: unexpected end of template: 'if' is never closed"}, /* jinja2: TemplateSyntaxError */
    {"unclosed_for", "{% for i in l %}", LAIR_ERR_FORMAT, "'for' is never closed"}, /* jinja2: TemplateSyntaxError */
    {"unclosed_var", "{{ x", LAIR_ERR_FORMAT, "never closed"}, /* jinja2: TemplateSyntaxError */
    {"unclosed_comment", "{# x", LAIR_ERR_FORMAT, "missing end of comment"}, /* jinja2: TemplateSyntaxError */
    {"stray_end", "{% endif %}", LAIR_ERR_FORMAT, "unknown tag 'endif'"}, /* jinja2: TemplateSyntaxError */
    {"unknown_tag", "{% frobnicate %}", LAIR_ERR_FORMAT, "unknown tag 'frobnicate'"}, /* jinja2: TemplateSyntaxError */
    {"mismatched_bracket", "{{ (1, 2] }}", LAIR_ERR_FORMAT, "unexpected ']', expected ')'"}, /* jinja2: TemplateSyntaxError */
    {"bad_token", "{{ x $ y }}", LAIR_ERR_FORMAT, "unexpected character '$'"}, /* jinja2: TemplateSyntaxError */
    {"include_refused", "{% include 'x.jinja' %}", LAIR_ERR_UNSUPPORTED, "'include' is not supported"}, /* jinja2: TypeError */
    {"import_refused", "{% import 'x' as y %}", LAIR_ERR_UNSUPPORTED, "'import' is not supported"}, /* jinja2: TypeError */
    {"extends_refused", "{% extends 'base' %}", LAIR_ERR_UNSUPPORTED, "'extends' is not supported"}, /* jinja2: TypeError */
    {"break_outside_loop", "{% break %}", LAIR_ERR_FORMAT, "'break' outside of a loop"}, /* jinja2: SyntaxError */
    {"raise_exception", "{{ raise_exception('Conversation roles must alternate') }}", LAIR_ERR_ARG, "template raised: Conversation roles must alternate"}, /* jinja2: TemplateError */
    {"undefined_attribute", "{{ nope.attr }}", LAIR_ERR_ARG, "line 1: 'nope' is undefined"}, /* jinja2: UndefinedError */
    {"missing_dict_key_attribute", "{{ d.missing.x }}", LAIR_ERR_ARG, "'dict object' has no attribute 'missing'"}, /* jinja2: UndefinedError */
    {"type_error", "{{ 'a' + 1 }}", LAIR_ERR_ARG, "can only concatenate str (not \"int\") to str"}, /* jinja2: TypeError */
    {"division_by_zero", "{{ 1 / 0 }}", LAIR_ERR_ARG, "division by zero"}, /* jinja2: ZeroDivisionError */
    {"mutating_method_refused", "{{ l.append(1) }}", LAIR_ERR_ARG, "unsafe"}, /* jinja2: SecurityError */
    {"dunder_refused", "{{ d.__class__() }}", LAIR_ERR_ARG, "unsafe"}, /* jinja2: SecurityError */
    {"tojson_undefined", "{{ nope|tojson }}", LAIR_ERR_ARG, "not JSON serializable"}, /* jinja2: TypeError */
    {"macro_too_many_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", LAIR_ERR_ARG, "macro 'm' takes not more than 1 argument(s)"}, /* jinja2: TypeError */
    {"not_callable", "{{ s() }}", LAIR_ERR_ARG, "'str' object is not callable"}, /* jinja2: TypeError */
    {"unpack_mismatch", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", LAIR_ERR_ARG, "too many values to unpack"}, /* jinja2: ValueError */
    {"set_attr_on_non_namespace", "{% set x.y = 1 %}", LAIR_ERR_ARG, "non-namespace"}, /* jinja2: TemplateRuntimeError */
    {"range_too_big", "{% for i in range(100000000) %}x{% endfor %}", LAIR_ERR_LIMIT, "range too big"}, /* jinja2: OverflowError */
    {"invalid_utf8", "a\n\377", LAIR_ERR_FORMAT, "line 2: invalid UTF-8 at byte 2"}, /* jinja2 reads str, not bytes */
};

TEST(errors_name_the_problem_and_line) {
    json_t *v = vars_json();
    REQUIRE(v);
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        char *out;
        size_t n;
        lair_err err = {0};
        lair_status st = render(errors[i].src, strlen(errors[i].src), v, NULL, &out, &n, &err);
        CHECKF(st == errors[i].st, "%s: status %s, want %s (%s)", errors[i].name, lair_status_name(st),
               lair_status_name(errors[i].st), st ? err.msg : out);
        if (st) CHECKF(strstr(err.msg, errors[i].msg) != NULL, "%s: message \"%s\" lacks \"%s\"", errors[i].name, err.msg, errors[i].msg);
        lair_free(out);
    }
    json_decref(v);
}

TEST(unknown_filter_only_fails_when_reached_inside_if) {
    /* jinja2 defers unknown filters in if-branches to run time */
    char *out;
    size_t n;
    lair_err err;
    const char *ok = "{% if false %}{{ x|nope }}{% endif %}ok";
    CHECK(render(ok, strlen(ok), NULL, NULL, &out, &n, &err) == LAIR_OK && strcmp(out, "ok") == 0);
    lair_free(out);
    const char *bad = "{% if true %}{{ x|nope }}{% endif %}";
    CHECK(render(bad, strlen(bad), NULL, NULL, &out, &n, &err) == LAIR_ERR_ARG && strstr(err.msg, "unknown filter 'nope'"));
}

TEST(generation_blocks_render_their_body) {
    /* HF transformers' AssistantTracker extension tag */
    char *out;
    size_t n;
    lair_err err;
    const char *src = "{% for m in ['a', 'b'] %}{% generation %}<{{ m }}>{% set q = 1 %}{% endgeneration %}{{ q }}{% endfor %}";
    CHECK(render(src, strlen(src), NULL, NULL, &out, &n, &err) == LAIR_OK && strcmp(out, "<a><b>") == 0);
    lair_free(out);
}

TEST(variables_may_be_null_and_must_be_an_object) {
    char *out;
    size_t n;
    lair_err err;
    CHECK(render("[{{ messages }}]", 16, NULL, NULL, &out, &n, &err) == LAIR_OK && strcmp(out, "[]") == 0 && n == 2);
    lair_free(out);
    json_t *arr = json_array();
    lair_jinja *t;
    REQUIRE(lair_jinja_parse("x", 1, &t, &err) == LAIR_OK);
    CHECK(lair_jinja_render(t, arr, NULL, &out, &n, &err) == LAIR_ERR_ARG && out == NULL);
    CHECK(lair_jinja_render(t, NULL, NULL, &out, NULL, &err) == LAIR_OK && strcmp(out, "x") == 0);
    lair_free(out);
    lair_jinja_free(t);
    json_decref(arr);
    lair_jinja_free(NULL);
}

TEST(chatml_fallback) {
    json_error_t je;
    json_t *v = json_loads("{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"東京\"},"
                           " {\"role\": \"assistant\", \"content\": null},"
                           " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, {\"type\": \"image\"}, {\"type\": \"text\", \"text\": \"b\"}]}],"
                           " \"add_generation_prompt\": true}",
                           0, &je);
    REQUIRE(v);
    char *out;
    size_t n;
    lair_err err;
    const char *src = lair_jinja_chatml_template();
    REQUIRE(render(src, strlen(src), v, NULL, &out, &n, &err) == LAIR_OK);
    CHECKF(strcmp(out, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n東京<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n"
                       "<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\n") == 0,
           "got %s", out);
    lair_free(out);
    json_decref(v);
}

/* ---- hostile templates: each must fail with LAIR_ERR_LIMIT well within 100 ms ---- */

static void expect_limit(const char *src, const char *msg) {
    char *out;
    size_t n;
    lair_err err = {0};
    double t0 = lair_time_seconds();
    lair_status st = render(src, strlen(src), NULL, NULL, &out, &n, &err);
    double ms = (lair_time_seconds() - t0) * 1000;
    CHECKF(st == LAIR_ERR_LIMIT, "%s: status %s (%s)", src, lair_status_name(st), st ? err.msg : "rendered");
    if (st) CHECKF(strstr(err.msg, msg) != NULL, "%s: message \"%s\" lacks \"%s\"", src, err.msg, msg);
    /* the engine stops at 100 ms; allow for slow (sanitized, emulated) builds */
    CHECKF(ms < 1000, "%s: took %.0f ms", src, ms);
    if (st == LAIR_OK) lair_free(out);
}

TEST(hostile_recursion) {
    expect_limit("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion too deep");
    expect_limit("{% macro f() %}{% call f() %}{{ caller() }}{% endcall %}{% endmacro %}{% call f() %}x{% endcall %}", "recursion too deep");
    expect_limit("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "too deep");
}

TEST(hostile_loops) {
    expect_limit("{% for i in range(100000000) %}x{% endfor %}", "range too big");
    expect_limit("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "limit exceeded");
    lair_jinja_limits lim = lair_jinja_default_limits();
    lim.max_steps = 1000;
    char *out;
    size_t n;
    lair_err err;
    const char *src = "{% for i in range(10000) %}{{ i }}{% endfor %}";
    CHECK(render(src, strlen(src), NULL, &lim, &out, &n, &err) == LAIR_ERR_LIMIT && strstr(err.msg, "step limit"));
    lim = lair_jinja_default_limits();
    lim.max_ms = 5;
    double t0 = lair_time_seconds();
    src = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    CHECK(render(src, strlen(src), NULL, &lim, &out, &n, &err) == LAIR_ERR_LIMIT && strstr(err.msg, "time limit"));
    CHECK(lair_time_seconds() - t0 < 0.5);
}

TEST(hostile_sizes) {
    expect_limit("{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "limit");
    expect_limit("{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "limit");
    expect_limit("{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", "limit");
    expect_limit("{% for i in range(100) %}{{ 'x' * 100000 }}{% endfor %}", "output exceeds");
    expect_limit("{{ 'x' * 100000000 }}", "exceeds");
    expect_limit("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}{% endfor %}", "nested");
    size_t big = (1u << 20) + 1;
    char *huge = malloc(big);
    REQUIRE(huge);
    memset(huge, 'a', big);
    lair_jinja *t = NULL;
    lair_err e2;
    CHECK(lair_jinja_parse(huge, big, &t, &e2) == LAIR_ERR_LIMIT && t == NULL && strstr(e2.msg, "exceeds the limit"));
    free(huge);
    lair_jinja_limits lim = lair_jinja_default_limits();
    lim.max_output = 10;
    char *out;
    size_t n;
    lair_err err;
    CHECK(render("0123456789", 10, NULL, &lim, &out, &n, &err) == LAIR_OK && n == 10);
    lair_free(out);
    CHECK(render("0123456789a", 11, NULL, &lim, &out, &n, &err) == LAIR_ERR_LIMIT);
}

/* Deep nesting must stay within the C stack a server thread has: the cases
 * run on a thread with a 512 KB stack (more under sanitizers, whose frames
 * are several times larger). */
#if defined(__SANITIZE_ADDRESS__)
#define NESTING_STACK (4u << 20)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NESTING_STACK (4u << 20)
#endif
#endif
#ifndef NESTING_STACK
#define NESTING_STACK (512u << 10)
#endif

static void *nesting_cases(void *arg);

TEST(hostile_nesting) {
    pthread_attr_t attr;
    pthread_t th;
    REQUIRE(pthread_attr_init(&attr) == 0);
    REQUIRE(pthread_attr_setstacksize(&attr, NESTING_STACK) == 0);
    REQUIRE(pthread_create(&th, &attr, nesting_cases, NULL) == 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
}

static void *nesting_cases(void *arg) {
    (void)arg;
    char *src = malloc(200001);
    if (!src) {
        CHECK(src != NULL);
        return NULL;
    }
    /* deep brackets, unary operators, statements, filter chains: bounded, no stack overflow */
    const char *unit[][3] = {{"{{ ", "(", " }}"}, {"{{ ", "[", " }}"}, {"{{ ", "-", "1 }}"}, {"{{ ", "not ", "1 }}"},
                             {"", "{% if 1 %}", ""}, {"{{ 1", "|string", " }}"}, {"{{ 1", " + 1", " }}"}, {"{{ x", ".a", " }}"}};
    for (size_t u = 0; u < sizeof unit / sizeof unit[0]; u++) {
        size_t k = strlen(unit[u][1]), pos = 0, reps = 190000 / (k + 1);
        pos += (size_t)sprintf(src + pos, "%s", unit[u][0]);
        for (size_t i = 0; i < reps; i++) memcpy(src + pos + i * k, unit[u][1], k);
        pos += reps * k;
        pos += (size_t)sprintf(src + pos, "%s", unit[u][2]);
        char *out;
        size_t n;
        lair_err err = {0};
        lair_status st = render(src, pos, NULL, NULL, &out, &n, &err);
        CHECKF(st == LAIR_ERR_LIMIT || st == LAIR_ERR_FORMAT, "unit %zu: status %s", u, lair_status_name(st));
        if (st == LAIR_OK) lair_free(out);
    }
    free(src);
    return NULL;
}

/* ---- robustness on real templates ---- */

static char *read_template(const char *name, size_t *len) {
    char rel[256];
    snprintf(rel, sizeof rel, "templates/%s", name);
    const char *p = check_testdata(rel);
    return p ? (char *)check_read_file(p, len) : NULL;
}

static json_t *conversation(void) {
    json_error_t je;
    return json_loads("{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": \"東京の天気は？\"},"
                      " {\"role\": \"assistant\", \"content\": \"晴れ\"}, {\"role\": \"user\", \"content\": \"thanks\"}],"
                      " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"description\": \"d\","
                      " \"parameters\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\", \"description\": \"x\"}}}}}],"
                      " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}",
                      0, &je);
}

/* Every prefix of a real template (every byte for one, a stride for the rest):
 * parse and render must fail cleanly or succeed, never crash or leak. */
TEST(truncated_templates) {
    static const char *const names[] = {"meta-llama-Llama-3.1-8B-Instruct.jinja", "meetkai-functionary-medium-v3.2.jinja",
                                        "CohereForAI-c4ai-command-r-plus-tool_use.jinja", "mistralai-Mistral-Nemo-Instruct-2407.jinja",
                                        "Qwen-Qwen2.5-7B-Instruct.jinja", "google-gemma-2-2b-it.jinja"};
    json_t *v = conversation();
    REQUIRE(v);
    size_t ok = 0, failed = 0;
    for (size_t t = 0; t < sizeof names / sizeof names[0]; t++) {
        size_t len;
        char *src = read_template(names[t], &len);
        if (!src) break;
        size_t stride = t == 0 ? 1 : 7;
        for (size_t cut = 0; cut <= len; cut += stride) {
            char *out;
            size_t n;
            lair_err err;
            if (render(src, cut, v, NULL, &out, &n, &err) == LAIR_OK) {
                ok++;
                lair_free(out);
            } else {
                failed++;
            }
        }
        free(src);
    }
    CHECK(ok + failed == 0 || (ok > 0 && failed > 0));
    json_decref(v);
}

/* Random byte edits (fixed seed) of a real template. */
TEST(mutated_templates) {
    size_t len;
    char *src = read_template("meetkai-functionary-medium-v3.2.jinja", &len);
    if (!src) return;
    json_t *v = conversation();
    REQUIRE(v);
    static const char alphabet[] = "{}%#-+()[]|.,:~'\"\\\n x1ifendforsetmacro";
    uint64_t s = 0x9E3779B97F4A7C15ull;
    char *m = malloc(len);
    REQUIRE(m);
    for (int iter = 0; iter < 600; iter++) {
        memcpy(m, src, len);
        for (int e = 0; e < 1 + iter % 5; e++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            m[(s >> 8) % len] = alphabet[(s >> 40) % (sizeof alphabet - 1)];
        }
        char *out;
        size_t n;
        lair_err err;
        if (render(m, len, v, NULL, &out, &n, &err) == LAIR_OK) lair_free(out);
    }
    free(m);
    free(src);
    json_decref(v);
}

/* Out of memory at every allocation of a parse + render is reported, never fatal. */
TEST(allocation_failures) {
    size_t len;
    char *src = read_template("meta-llama-Llama-3.1-8B-Instruct.jinja", &len);
    if (!src) return;
    json_t *v = conversation();
    REQUIRE(v);
    char *want;
    size_t want_n;
    lair_err err;
    REQUIRE(render(src, len, v, NULL, &want, &want_n, &err) == LAIR_OK);
    int nomem = 0;
    for (long k = 0;; k++) {
        lair_alloc_fail_after(k);
        char *out;
        size_t n;
        lair_status st = render(src, len, v, NULL, &out, &n, &err);
        lair_alloc_fail_after(-1);
        if (st == LAIR_OK) {
            CHECK(n == want_n && memcmp(out, want, n) == 0);
            lair_free(out);
            break;
        }
        CHECKF(st == LAIR_ERR_NOMEM, "allocation %ld: %s", k, err.msg);
        nomem++;
        if (k > 100000) break;
    }
    CHECK(nomem > 10);
    lair_free(want);
    free(src);
    json_decref(v);
}

/* One parsed template, rendered by several threads at once. */
typedef struct {
    const lair_jinja *t;
    const json_t *v;
    const char *want;
    int bad;
} thread_arg;

static void *render_many(void *p) {
    thread_arg *a = p;
    for (int i = 0; i < 50; i++) {
        char *out;
        size_t n;
        lair_err err;
        if (lair_jinja_render(a->t, a->v, NULL, &out, &n, &err) != LAIR_OK || strcmp(out, a->want) != 0) a->bad++;
        lair_free(out);
    }
    return NULL;
}

TEST(concurrent_renders) {
    const char *src = "{% macro m(x) %}<{{ x|upper }}>{% endmacro %}{% set ns = namespace(n=0) %}"
                      "{% for u in users %}{{ m(u.name) }}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{{ 'c'|e }}";
    lair_jinja *t;
    lair_err err;
    REQUIRE(lair_jinja_parse(src, strlen(src), &t, &err) == LAIR_OK);
    json_t *v = vars_json();
    REQUIRE(v);
    thread_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thread_arg){t, v, "<BOB><AL><CY>3c", 0};
        REQUIRE(pthread_create(&th[i], NULL, render_many, &a[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(a[i].bad == 0);
    }
    lair_jinja_free(t);
    json_decref(v);
}

int main(void) {
    RUN(render_matches_jinja2);
    RUN(errors_name_the_problem_and_line);
    RUN(unknown_filter_only_fails_when_reached_inside_if);
    RUN(generation_blocks_render_their_body);
    RUN(variables_may_be_null_and_must_be_an_object);
    RUN(chatml_fallback);
    RUN(hostile_recursion);
    RUN(hostile_loops);
    RUN(hostile_sizes);
    RUN(hostile_nesting);
    RUN(truncated_templates);
    RUN(mutated_templates);
    RUN(allocation_failures);
    RUN(concurrent_renders);
    return check_done();
}
