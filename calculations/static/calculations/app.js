// Copy a calculation's full output (fetched from its download URL) to the clipboard.
document.addEventListener("click", async (event) => {
  const button = event.target.closest(".copy-output");
  if (!button) return;
  const status = button.parentElement.querySelector(".copy-status");
  try {
    const response = await fetch(button.dataset.url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    await navigator.clipboard.writeText(await response.text());
    status.textContent = "Copied.";
  } catch (error) {
    status.textContent = `Could not copy: ${error.message}`;
  }
});

// Show the help (description and bounds) of the equation picked in the form.
document.addEventListener("change", (event) => {
  const select = event.target;
  if (!(select instanceof HTMLSelectElement) || select.getAttribute("aria-describedby") !== "equation-help") return;
  const help = document.getElementById("equation-help");
  const option = select.options[select.selectedIndex];
  if (help && option && option.dataset.help) help.textContent = option.dataset.help;
});
