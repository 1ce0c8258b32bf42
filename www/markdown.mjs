// The demo's /docs: the README and docs/ as HTML pages (nothing fetched from outside). A small
// renderer for what these files use: headings (with GitHub's ids, so #anchors work), fenced
// code, tables, lists, paragraphs, and `code`, **bold**, *emphasis* and [links](...) inline.

const escape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** GitHub's heading id: lower case, punctuation dropped, spaces to hyphens. */
export const slug = (text) => text.trim().toLowerCase().replace(/[^\w\- ]/g, "").replace(/ /g, "-");

function inline(text) {
  const codes = [];
  let s = escape(text).replace(/`([^`]+)`/g, (_, c) => `\u0000${codes.push(c) - 1}\u0000`);
  s = s
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, t, href) => `<a href="${/^(https?:|#|\/|[\w.-]+(\.md)?(#[\w-]*)?$|[\w.-]+\/)/.test(href) ? href : "#"}">${t}</a>`)
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[\s(])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>");
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${codes[Number(i)]}</code>`);
}

/** `markdown` as an HTML document titled `title`. */
export function render(markdown, title) {
  // HTML comments (the docs' figure marks, history blocks) are not shown, as on GitHub.
  const lines = markdown.replace(/<!--[\s\S]*?-->/g, "").split("\n");
  const out = [];
  let i = 0;
  const cells = (row) => row.trim().replace(/^\||\|$/g, "").split("|").map((c) => inline(c.trim()));
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      out.push(`<pre><code>${escape(code.join("\n"))}</code></pre>`);
      i++;
    } else if (/^#{1,4} /.test(line)) {
      const [, hashes, text] = /^(#+) (.*)$/.exec(line);
      out.push(`<h${hashes.length} id="${slug(text.replace(/`/g, ""))}">${inline(text)}</h${hashes.length}>`);
      i++;
    } else if (line.startsWith("|")) {
      const rows = [];
      for (; i < lines.length && lines[i].startsWith("|"); i++) if (!/^\|[\s|:-]+\|$/.test(lines[i].trim())) rows.push(cells(lines[i]));
      const [head, ...body] = rows;
      out.push(`<table><tr>${head.map((c) => `<th>${c}</th>`).join("")}</tr>${body.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</table>`);
    } else if (/^\s*([-*]|\d+\.) /.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const items = [];
      for (; i < lines.length && lines[i].trim() !== "" && !lines[i].startsWith("#") && !lines[i].startsWith("```"); i++) {
        if (/^\s*([-*]|\d+\.) /.test(lines[i])) items.push(lines[i].replace(/^\s*([-*]|\d+\.) /, ""));
        else items[items.length - 1] += ` ${lines[i].trim()}`;
      }
      const tag = ordered ? "ol" : "ul";
      out.push(`<${tag}>${items.map((t) => `<li>${inline(t)}</li>`).join("")}</${tag}>`);
    } else if (line.trim() === "") {
      i++;
    } else {
      const para = [];
      for (; i < lines.length && lines[i].trim() !== "" && !/^(#{1,4} |```|\||\s*([-*]|\d+\.) )/.test(lines[i]); i++) para.push(lines[i]);
      out.push(`<p>${inline(para.join(" "))}</p>`);
    }
  }
  return `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}pre{background:#f4f5f7;padding:.75rem;overflow-x:auto}code{font-size:.9em}table{border-collapse:collapse;display:block;overflow-x:auto}td,th{border:1px solid #d0d4da;padding:.3rem .5rem;vertical-align:top;text-align:left}a{color:#0b5cad}</style>
<p><a href="/">← the demo</a> · <a href="/docs">README</a></p>
${out.join("\n")}
</html>`;
}
