"""Power: onboard sensors (`onboard`); meters and energy integration join them."""
